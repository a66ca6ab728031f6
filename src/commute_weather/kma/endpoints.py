"""Where the KMA API Hub lives."""

DEFAULT_BASE_URL = "https://apihub.kma.go.kr/api/typ01/url/kma_sfctm3.php"
