"""The nginx sample: valid for nginx, TLS-ready, static files from STATIC_ROOT of env.example."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from django.conf import settings

CONF = Path(settings.BASE_DIR) / "deploy" / "nginx" / "left4me.conf"
ENV_EXAMPLE = Path(settings.BASE_DIR) / "deploy" / "env.example"


def test_http_redirects_to_https_and_the_proxy_tells_the_app_the_scheme() -> None:
    text = CONF.read_text()
    assert "return 301 https://$host$request_uri;" in text
    assert re.search(r"listen 443 ssl", text)
    assert "proxy_set_header X-Forwarded-Proto $scheme;" in text
    assert "proxy_set_header Host $host;" in text
    assert re.search(r"server 127\.0\.0\.1:8000", text)
    assert re.search(r"client_max_body_size \d+m;", text)
    assert re.search(r"proxy_read_timeout \d+s;", text)


def test_static_files_come_from_the_static_root_of_the_env_example() -> None:
    static_root = re.search(r"^STATIC_ROOT=(.+)$", ENV_EXAMPLE.read_text(), re.M).group(1)
    alias = re.search(r"location /static/ \{\s*alias (\S+);", CONF.read_text()).group(1)
    assert alias == static_root.rstrip("/") + "/"
    assert settings.STATIC_URL == "/static/"


@pytest.mark.skipif(
    shutil.which("nginx") is None or shutil.which("openssl") is None, reason="nginx or openssl missing"
)
def test_nginx_accepts_the_configuration(tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=panel.example.org",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    site = CONF.read_text()
    site = re.sub(r"ssl_certificate\s+\S+;", f"ssl_certificate {cert};", site)
    site = re.sub(r"ssl_certificate_key\s+\S+;", f"ssl_certificate_key {key};", site)
    site = site.replace("/var/log/nginx/", f"{tmp_path}/")
    (tmp_path / "left4me.conf").write_text(site)
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\nevents {{}}\n"
        f"http {{\n  access_log off;\n  include {tmp_path}/left4me.conf;\n}}\n"
    )
    result = subprocess.run(
        ["nginx", "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "[warn]" not in result.stderr and "[emerg]" not in result.stderr, result.stderr
