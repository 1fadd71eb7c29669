"""The cloud instance type a run is on, from the environment or the cloud's metadata service.

Embodied carbon of a cloud VM is charged by its instance type when it is
known (:mod:`wattprint.catalogue.instances`). The type comes from, in order:

1. ``WATTPRINT_INSTANCE_TYPE`` (``m5.large``, ``e2-standard-4``,
   ``Standard_D4s_v3``; ``aws:m5.large`` names the provider too);
2. when ``WATTPRINT_CLOUD_METADATA`` is ``1``/``true``/``yes``/``on``, the
   instance metadata service of the cloud the machine runs on, each asked
   once with a short time-out (0.3 s by default), AWS, then GCP, then Azure:

   * **AWS** (IMDSv2): ``PUT /latest/api/token`` with
     ``X-aws-ec2-metadata-token-ttl-seconds``, then
     ``GET /latest/meta-data/instance-type`` with the token in
     ``X-aws-ec2-metadata-token``, at ``http://169.254.169.254``;
   * **GCP**: ``GET /computeMetadata/v1/instance/machine-type`` with
     ``Metadata-Flavor: Google`` at ``http://metadata.google.internal``; the
     answer is a path (``projects/1/machineTypes/e2-standard-4``);
   * **Azure** (IMDS): ``GET /metadata/instance/compute/vmSize?api-version=2021-02-01&format=text``
     with ``Metadata: true`` at ``http://169.254.169.254``.

Off a cloud, the link-local address does not answer and each try ends at
its time-out, so detection is off unless asked for, and the tracker runs it
in the background thread that records the host's facts, never on the path
that starts the job. The services' addresses are parameters, so tests point
them at a local HTTP server.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

ENV_TYPE = "WATTPRINT_INSTANCE_TYPE"
ENV_DETECT = "WATTPRINT_CLOUD_METADATA"

AWS_URL = "http://169.254.169.254"
GCP_URL = "http://metadata.google.internal"
AZURE_URL = "http://169.254.169.254"

_TRUE = ("1", "true", "yes", "on")


def _ask(url: str, timeout_s: float, method: str = "GET",
         headers: Mapping[str, str] | None = None) -> str | None:
    from wattprint.httpclient import HttpClient, HttpError

    # no proxy and no retry: a metadata service answers at once on the machine's own link
    client = HttpClient(timeout_s=timeout_s, retries=0, trust_env=False)
    try:
        response = (client.get(url, headers=headers) if method == "GET"
                    else client.send(method, url, headers=headers))
    except HttpError:
        return None
    if not response.ok:
        return None
    return response.body[:4096].decode("utf-8", "replace").strip() or None


def aws_instance_type(base_url: str = AWS_URL, timeout_s: float = 0.3) -> str | None:
    """The EC2 instance type by IMDSv2 (token, then the type), or ``None``."""
    token = _ask(f"{base_url}/latest/api/token", timeout_s, "PUT",
                 {"X-aws-ec2-metadata-token-ttl-seconds": "60"})
    if token is None:
        return None
    return _ask(f"{base_url}/latest/meta-data/instance-type", timeout_s,
                headers={"X-aws-ec2-metadata-token": token})


def gcp_machine_type(base_url: str = GCP_URL, timeout_s: float = 0.3) -> str | None:
    """The Compute Engine machine type (the last part of its path), or ``None``."""
    text = _ask(f"{base_url}/computeMetadata/v1/instance/machine-type", timeout_s,
                headers={"Metadata-Flavor": "Google"})
    return text.rsplit("/", 1)[-1] if text else None


def azure_vm_size(base_url: str = AZURE_URL, timeout_s: float = 0.3) -> str | None:
    """The Azure VM size (``Standard_D4s_v3``), or ``None``."""
    return _ask(f"{base_url}/metadata/instance/compute/vmSize?api-version=2021-02-01"
                "&format=text", timeout_s, headers={"Metadata": "true"})


def detect_instance_type(*, aws_url: str = AWS_URL, gcp_url: str = GCP_URL,
                         azure_url: str = AZURE_URL, timeout_s: float = 0.3) -> str | None:
    """Ask the metadata services in turn; ``provider:type`` from the first that answers."""
    for provider, ask, url in (("aws", aws_instance_type, aws_url),
                               ("gcp", gcp_machine_type, gcp_url),
                               ("azure", azure_vm_size, azure_url)):
        found = ask(url, timeout_s)
        if found:
            return f"{provider}:{found}"
    return None


def instance_type(environ: Mapping[str, str] | None = None, *, aws_url: str = AWS_URL,
                  gcp_url: str = GCP_URL, azure_url: str = AZURE_URL,
                  timeout_s: float = 0.3) -> str | None:
    """The run's instance type: ``WATTPRINT_INSTANCE_TYPE``, else detection when enabled.

    Args:
        environ: the environment (default ``os.environ``).
        aws_url: the AWS metadata service (tests point it at a local server).
        gcp_url: the GCP metadata service.
        azure_url: the Azure metadata service.
        timeout_s: time-out of each request, s.

    Returns:
        The type, or ``None`` when not given and not detected (or detection is off).
    """
    env = os.environ if environ is None else environ
    given = env.get(ENV_TYPE, "").strip()
    if given:
        return given
    if env.get(ENV_DETECT, "").strip().lower() in _TRUE:
        return detect_instance_type(aws_url=aws_url, gcp_url=gcp_url, azure_url=azure_url,
                                    timeout_s=timeout_s)
    return None


__all__ = ["ENV_DETECT", "ENV_TYPE", "aws_instance_type", "azure_vm_size",
           "detect_instance_type", "gcp_machine_type", "instance_type"]
