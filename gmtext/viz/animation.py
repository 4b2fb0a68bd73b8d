"""Offline HTML players for matplotlib animations.

A process that unfolds (Langevin dynamics, a diffusion sampler, a GAN's training) is shown in the
book as a ``matplotlib.animation.Animation`` converted to an HTML player that works without a
network connection: the book is read offline.

Example:
    >>> import matplotlib.animation
    >>> from matplotlib.figure import Figure
    >>> fig = Figure()
    >>> line, = fig.add_subplot().plot([0, 1], [0, 0])
    >>> anim = matplotlib.animation.FuncAnimation(fig, lambda i: line.set_ydata([0, i]), frames=2)
    >>> html = animation_html(anim).data
    >>> "font-awesome" in html, "&#x25B6;" in html
    (False, True)
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import matplotlib.animation

if TYPE_CHECKING:  # IPython is imported only when an animation is converted
    import IPython.display

__all__ = ["animation_html"]

# Font Awesome icons used by matplotlib's HTML animation player, as plain-text labels
_BUTTON_LABELS: dict[str, str] = {
    "fa fa-minus": "&minus;", "fa fa-plus": "+",
    "fa fa-fast-backward": "|&#x25C0;&#xFE0E;&#x25C0;&#xFE0E;",        # |<<
    "fa fa-step-backward": "|&#x25C0;&#xFE0E;",                          # |<
    "fa fa-play fa-flip-horizontal": "&#x25C0;&#xFE0E;",                 # <
    "fa fa-pause": "&#x275A;&#x275A;",                                   # ||
    "fa fa-play": "&#x25B6;&#xFE0E;",                                    # >
    "fa fa-step-forward": "&#x25B6;&#xFE0E;|",                           # >|
    "fa fa-fast-forward": "&#x25B6;&#xFE0E;&#x25B6;&#xFE0E;|",           # >>|
}
_REMOTE = r"""(?:https?:)?//"""


def animation_html(anim: matplotlib.animation.Animation) -> IPython.display.HTML:
    """A self-contained HTML player of a matplotlib animation, with no external resources.

    ``anim.to_jshtml()`` embeds every frame as a PNG but links the Font Awesome style sheet of a
    CDN for its button icons, which an offline book cannot load (the buttons would be blank).
    Here every remote ``<link>``, ``<script src>`` and ``@import`` is removed and the icons are
    replaced by plain-text labels, so the player works offline. The animation's figure is then
    closed so that it is not shown a second time as a still image.

    Args:
        anim: a ``matplotlib.animation.Animation`` (e.g. ``FuncAnimation``).

    Returns:
        An ``IPython.display.HTML`` object (display it, or ``glue`` it into the book).

    Raises:
        TypeError: if ``anim`` is not a matplotlib animation.
        ImportError: if IPython is not installed.
    """
    if not isinstance(anim, matplotlib.animation.Animation):
        raise TypeError(f"anim must be a matplotlib.animation.Animation, got {type(anim).__name__}")
    from IPython.display import HTML

    html = anim.to_jshtml()
    html = re.sub(rf"""<link\b[^>]*\bhref\s*=\s*["']?\s*{_REMOTE}[^>]*>""", "", html, flags=re.I)
    html = re.sub(rf"""<script\b[^>]*\bsrc\s*=\s*["']?\s*{_REMOTE}[^>]*>\s*</script>""", "", html,
                  flags=re.I)
    html = re.sub(rf"""@import\s+(?:url\()?\s*["']?{_REMOTE}[^;]*;""", "", html, flags=re.I)

    def label(match: re.Match[str]) -> str:
        classes = " ".join(match.group(1).split())
        return _BUTTON_LABELS.get(classes, classes.rsplit("fa-", 1)[-1])

    html = re.sub(r"""<i\s+class\s*=\s*["']([^"']*\bfa\b[^"']*)["']\s*>\s*</i>""", label, html)
    fig = getattr(anim, "_fig", None)
    if fig is not None:
        import matplotlib.pyplot as plt

        plt.close(fig)
    return HTML(html)
