"""Device names reduced to comparable tokens, so every usual spelling finds its entry.

``/proc/cpuinfo``, NVML, amdsmi, vendor datasheets and the upstream tables
each write a model differently (``Intel(R) Xeon(R) Gold 6248 CPU @ 2.50GHz``
and ``Xeon Gold 6248``; ``NVIDIA A100-SXM4-80GB`` and ``A100 SXM4``). The
catalogue compares names only after these rules, which drop vendor words,
trademark marks, clocks and punctuation.
"""

from __future__ import annotations

import re

_DROP_WORDS = re.compile(
    r"\((?:r|tm|c)\)|[®™]|@.*$|\b(?:\d+|dual|quad|six|eight|twelve|sixteen)[- ]core\b"
    r"|\b(?:intel|amd|cpu|processor)\b"
)

_GPU_NOISE = frozenset({"nvidia", "tesla", "geforce", "amd", "ati", "radeon", "instinct",
                        "google", "gpu", "graphics", "accelerator"})


def normalise_cpu_name(name: str) -> str:
    """A CPU model name reduced to comparable lower-case tokens.

    Drops vendor names, trademark marks, "CPU"/"Processor", the clock after
    ``@`` and "N-Core"; punctuation becomes spaces (``+`` is kept, as in
    ``8480+``). ``"Intel(R) Xeon(R) CPU E5-2690 v4 @ 2.60GHz"`` and
    ``"Intel Xeon E5-2690 v4"`` both become ``"xeon e5 2690 v4"``.

    Args:
        name: a model name as ``/proc/cpuinfo`` or a table writes it.

    Returns:
        The normalised name (may be empty).
    """
    text = _DROP_WORDS.sub(" ", name.lower())
    return " ".join(re.sub(r"[^a-z0-9+]+", " ", text).split())


def normalise_gpu_name(name: str) -> tuple[str, ...]:
    """A GPU name as comparable tokens, in their original order.

    Lower case, punctuation to spaces, vendor and family words dropped
    (NVIDIA, Tesla, GeForce, AMD, Instinct...), ``SXM2``/``SXM4``/``SXM5``
    read as ``sxm``. ``"NVIDIA A100-SXM4-80GB"`` → ``("a100", "sxm", "80gb")``.

    Args:
        name: a card name in any usual spelling.

    Returns:
        The tokens.
    """
    tokens = re.sub(r"[^a-z0-9]+", " ", name.lower()).split()
    return tuple(re.sub(r"^sxm\d$", "sxm", t) for t in tokens if t not in _GPU_NOISE)
