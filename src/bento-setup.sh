#!/usr/bin/env bash
# The bento image's setup script (bentofile.yaml docker.setup_script). BentoML's debian image always
# installs build-essential and git, for Python packages built from source; every dependency of the service
# comes as a wheel, so once they are installed (this runs after them, as root) the compilers go.
set -euxo pipefail
apt-get purge -y --auto-remove build-essential gcc g++ cpp make dpkg-dev git
rm -rf /var/lib/apt/lists/*
for tool in gcc cc g++ c++ cpp make; do
    if command -v "$tool"; then
        echo "$tool is still installed" >&2
        exit 1
    fi
done
