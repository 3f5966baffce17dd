"""The reverse-proxy image the docker target puts in front of the serving containers.

nginx from Debian's own packages (``nginx-light``), built locally from the project's base image,
so no registry pull is needed. The image's only configuration is an ``include`` of a mounted
folder: the docker target writes the routing file there and asks nginx to reload.
"""

from __future__ import annotations

import hashlib
import io
import tarfile
from typing import Any

CONFIG_DIR = "/etc/nginx/lockgate"  # mounted from the host; holds routes.conf
LOG_DIR = "/var/log/lockgate"  # mounted from the host; holds access.log
LISTEN_PORT = 8080

NGINX_MAIN = f"""\
worker_processes 1;
pid /run/nginx.pid;
error_log /dev/stderr warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    include {CONFIG_DIR}/routes.conf;
}}
"""

DOCKERFILE = """\
FROM {base}
RUN apt-get -o DPkg::Lock::Timeout=600 update \\
 && DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y \\
    --no-install-recommends nginx-light \\
 && rm -rf /var/lib/apt/lists/* /etc/nginx/sites-enabled/*
COPY nginx.conf /etc/nginx/nginx.conf
RUN mkdir -p {config_dir} {log_dir}
EXPOSE {port}
STOPSIGNAL SIGQUIT
CMD ["nginx", "-g", "daemon off;"]
"""


def proxy_tag(base: str) -> str:
    """A tag that changes whenever the recipe or the base changes."""
    recipe = DOCKERFILE.format(base=base, config_dir=CONFIG_DIR, log_dir=LOG_DIR, port=LISTEN_PORT)
    digest = hashlib.sha256((recipe + NGINX_MAIN).encode()).hexdigest()[:16]
    return f"lockgate-proxy/nginx:{digest}"


def build_proxy_image(client: Any, base: str) -> str:
    """Build (or find) the proxy image for ``base``; returns its tag."""
    import docker

    tag = proxy_tag(base)
    try:
        client.images.get(tag)
        return tag
    except docker.errors.ImageNotFound:
        pass
    recipe = DOCKERFILE.format(base=base, config_dir=CONFIG_DIR, log_dir=LOG_DIR, port=LISTEN_PORT)
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as tar:
        for name, text in (("Dockerfile", recipe), ("nginx.conf", NGINX_MAIN)):
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    context.seek(0)
    client.images.build(
        fileobj=context,
        custom_context=True,
        tag=tag,
        rm=True,
        forcerm=True,
        network_mode="host",  # apt needs the network; the default bridge may not exist
    )
    return tag
