#!/usr/bin/env bash
# The bento image's setup script (bentofile.yaml docker.setup_script), run as root after the Python
# packages are installed.
# BentoML's debian image always installs build-essential and git, for Python packages built from source;
# every dependency of the service comes as a wheel, so the compilers go, with the assembler and linker
# (binutils) and perl (perl-base, essential, stays), which apt keeps for packages that recommend them
# (Debian's python3-pip: 70 MB).
set -euxo pipefail
apt-get purge -y --auto-remove build-essential gcc g++ cpp make dpkg-dev git binutils perl
apt-get clean
rm -rf /var/lib/apt/lists/*
for tool in gcc cc g++ c++ cpp make as ld; do
    if command -v "$tool"; then
        echo "$tool is still installed" >&2
        exit 1
    fi
done
# BentoML creates these under BENTOML_HOME at every start; on the read-only root filesystem the Kubernetes
# manifests mount, creating them crashed the server, so they exist (owned by the service user) beforehand.
install -d -o "${BENTO_USER:-bentoml}" -g "${BENTO_USER:-bentoml}" \
    "$BENTOML_HOME"/bentos "$BENTOML_HOME"/models "$BENTOML_HOME"/envs "$BENTOML_HOME"/tmp
