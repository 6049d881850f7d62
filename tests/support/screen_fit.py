"""Checks that a page fits a phone, a tablet and a desktop: no sideways scroll, whole words, readable contrast.

Every screen the edge serves passes the same checks at the same widths (VIEWPORTS). The measurements come
from the browser's own layout (bounding boxes, text ranges, getComputedStyle); only the WCAG arithmetic is
done here, so it can be checked against the standard's reference values.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from playwright.async_api import Locator, Page, expect

from tests.support.waiting import wait_until

# An sRGB colour as its red, green and blue channels, 0..255.
Rgb = Sequence[float]

# WCAG 2.x level AA for normal-size text.
AA_TEXT_CONTRAST = 4.5
# Sub-pixel layout rounds differently in different places; a pixel is not a sideways scroll.
ROUNDING_PX = 1


@dataclass(frozen=True, kw_only=True)
class Viewport:
    name: str
    width: int
    height: int

    def __str__(self) -> str:
        return f"{self.name} ({self.width} px)"


PHONE = Viewport(name="phone", width=390, height=844)
TABLET = Viewport(name="tablet", width=768, height=1024)
DESKTOP = Viewport(name="desktop", width=1600, height=1000)
VIEWPORTS = (PHONE, TABLET, DESKTOP)


async def show_at(page: Page, viewport: Viewport) -> None:
    """Resize the page's viewport and wait until the browser has laid it out and painted it again."""
    await page.set_viewport_size({"width": viewport.width, "height": viewport.height})
    await page.evaluate(
        "() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))"
    )


# The page's width against the viewport's, and the outermost elements that stick out on the right or left
# (only the outermost: their children stick out with them).
_SIDEWAYS = """() => {
  const width = window.innerWidth;
  const out = (node) => { const r = node.getBoundingClientRect(); return r.width > 0 && (r.right > width + 1 || r.left < -1); };
  const name = (node) => node.tagName.toLowerCase() + (node.id ? "#" + node.id : "")
    + [...node.classList].map((c) => "." + c).join("") + (node.dataset.testid ? `[data-testid=${node.dataset.testid}]` : "");
  const offenders = [...document.body.querySelectorAll("*")]
    .filter((node) => out(node) && !(node.parentElement && out(node.parentElement)))
    .slice(0, 8)
    .map((node) => { const r = node.getBoundingClientRect(); return `${name(node)} spans ${Math.round(r.left)}..${Math.round(r.right)} px`; });
  return { scrollWidth: document.documentElement.scrollWidth, innerWidth: width, offenders };
}"""


async def assert_no_sideways_scroll(page: Page, *, where: str) -> None:
    """The document is no wider than the viewport: nothing can be scrolled to sideways."""
    fit = await page.evaluate(_SIDEWAYS)
    assert fit["scrollWidth"] <= fit["innerWidth"], (
        f"{where} scrolls sideways: the page is {fit['scrollWidth']} px wide in a {fit['innerWidth']} px "
        f"viewport; sticking out: {'; '.join(fit['offenders']) or 'nothing measurable'}"
    )


# Where an element's text is drawn: its line boxes (a range over its contents), its own box and scroll
# width, the viewport, and every ancestor (or the element itself) that clips and does not hold the text.
_TEXT_LAYOUT = """(node) => {
  if (!node.isConnected) return null;
  const range = document.createRange();
  range.selectNodeContents(node);
  const lines = [...range.getClientRects()].filter((r) => r.width > 0);
  const text = range.getBoundingClientRect();
  const clippedBy = [];
  for (let box = node; box && box !== document.documentElement; box = box.parentElement) {
    const style = getComputedStyle(box);
    if (style.overflowX === "visible" && style.overflowY === "visible") continue;
    const r = box.getBoundingClientRect();
    if (text.left < r.left - 1 || text.right > r.right + 1 || text.top < r.top - 1 || text.bottom > r.bottom + 1)
      clippedBy.push(box.tagName.toLowerCase() + [...box.classList].map((c) => "." + c).join(""));
  }
  const style = getComputedStyle(node);
  return {
    text: node.innerText, lines: new Set(lines.map((r) => Math.round(r.top))).size,
    scrollWidth: node.scrollWidth, clientWidth: node.clientWidth,
    left: text.left, right: text.right, viewport: window.innerWidth, clippedBy,
    shown: style.visibility === "visible" && Number(style.opacity) > 0 && text.width > 0,
    ellipsis: style.textOverflow !== "clip",
  };
}"""


async def _measure(locator: Locator, script: str) -> dict[str, Any]:
    """Run a measuring script on the element; again if a re-render replaced it between finding and measuring."""

    async def attached() -> dict[str, Any] | None:
        result: dict[str, Any] | None = await locator.evaluate(script)
        return result

    return await wait_until(attached, what=f"{locator} to stay in the page while it is measured")


async def assert_whole_word_visible(locator: Locator, word: str, *, where: str) -> None:
    """The element shows exactly `word`, on one line, inside its own box, every clipping box and the viewport."""
    await expect(locator).to_have_text(word)
    layout = await _measure(locator, _TEXT_LAYOUT)
    problems = []
    if not layout["shown"]:
        problems.append("it is not shown")
    if layout["clientWidth"] == 0:
        problems.append("it has no box of its own to measure its text against (an inline element)")
    elif layout["scrollWidth"] > layout["clientWidth"]:
        problems.append(
            f"its text is {layout['scrollWidth']} px wide in a {layout['clientWidth']} px box"
            + (" (cut with an ellipsis)" if layout["ellipsis"] else "")
        )
    if layout["lines"] != 1:
        problems.append(f"it is broken over {layout['lines']} lines")
    if layout["left"] < -ROUNDING_PX or layout["right"] > layout["viewport"] + ROUNDING_PX:
        problems.append(
            f"its text spans {layout['left']:.0f}..{layout['right']:.0f} px of a {layout['viewport']} px viewport"
        )
    if layout["clippedBy"]:
        problems.append(f"it is clipped by {', '.join(layout['clippedBy'])}")
    assert not problems, f"{where}: {word!r} is not wholly visible: {'; '.join(problems)}"


# The colours an element's text and the background right behind it are painted in: every box from the root
# down is composited over the one under it (background alpha), and an ancestor's opacity mixes everything
# inside it with what lies behind it. Gradients and images cannot be reduced to one colour: they are named.
_PAINTED_COLOURS = """(node) => {
  if (!node.isConnected) return null;
  const parse = (value) => {
    const m = /^rgba?\\(([^)]*)\\)$/.exec(value.trim());
    if (!m) throw new Error(`cannot read the colour ${value}`);
    const parts = m[1].split(/[\\s,\\/]+/).filter(Boolean).map(Number);
    return { rgb: parts.slice(0, 3), alpha: parts.length > 3 ? parts[3] : 1 };
  };
  const over = (top, alpha, under) => top.map((c, i) => c * alpha + under[i] * (1 - alpha));
  const chain = [];
  for (let box = node; box; box = box.parentElement) chain.unshift(box);
  const images = chain.filter((box) => getComputedStyle(box).backgroundImage !== "none").map((box) => box.tagName.toLowerCase() + [...box.classList].map((c) => "." + c).join(""));
  // paint(i, behind): box i and everything inside it down to the element, over the colour behind box i
  const paint = (i, behind, withText) => {
    const style = getComputedStyle(chain[i]);
    const bg = parse(style.backgroundColor);
    let inside = over(bg.rgb, bg.alpha, behind);
    if (i + 1 < chain.length) inside = paint(i + 1, inside, withText);
    else if (withText) { const fg = parse(style.color); inside = over(fg.rgb, fg.alpha, inside); }
    return over(inside, Number(style.opacity), behind);
  };
  const canvas = [255, 255, 255];
  return { text: paint(0, canvas, true), background: paint(0, canvas, false), images, content: node.innerText };
}"""


def relative_luminance(rgb: Rgb) -> float:
    """WCAG 2.x relative luminance, 0 (black) to 1 (white)."""

    def linear(channel: float) -> float:
        c = channel / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(one: Rgb, other: Rgb) -> float:
    """WCAG 2.x contrast ratio, 1 (none) to 21 (black on white), whichever colour is lighter."""
    light, dark = sorted((relative_luminance(one), relative_luminance(other)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


async def painted_contrast(locator: Locator) -> tuple[str, float]:
    """One element's text and its contrast with the background it is painted on, as the page shows it."""
    colours = await _measure(locator, _PAINTED_COLOURS)
    if colours["images"]:
        raise AssertionError(
            f"cannot measure the contrast of {colours['content']!r}: a background image or gradient lies "
            f"behind it ({', '.join(colours['images'])})"
        )
    return colours["content"], contrast_ratio(colours["text"], colours["background"])


async def assert_readable_contrast(
    locator: Locator, *, where: str, minimum: float = AA_TEXT_CONTRAST
) -> None:
    """Every element the locator matches (at least one) has text at `minimum` contrast or more."""
    count = await locator.count()
    assert count, f"{where}: nothing to measure the contrast of"
    failing = []
    for index in range(count):
        text, ratio = await painted_contrast(locator.nth(index))
        if ratio < minimum:
            failing.append(f"{text!r} at {ratio:.2f}:1")
    assert not failing, f"{where}: text under {minimum}:1 contrast: {', '.join(failing)}"
