"""The book as a reader meets it online, in a real browser (headless Debian Chromium).

The module builds the book from the repository twice, from scratch and with warnings as errors
(`jupyter-book build . -W --keep-going`) with `_config.yml` as it is (no repository URL), and,
side by side, the front page and first chapter with a repository URL set through a temporary
copy of the configuration (to see the launch buttons). It serves the HTML
on localhost with `http.server` (nothing else is reachable: the site must work offline) and
visits every page of the table of contents once; the tests below check what each visit saw.

Screenshots for a person to look at go to `_build/screenshots/`.

Run only these: `make test-browser`. Chromium missing: `make browser` installs it.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urldefrag, urlsplit

import pytest
import yaml
from browser_site import (
    CHROMIUM_FLAGS,
    ROOT,
    chromium_path,
    config_with,
    finish_build,
    ids_in,
    serve,
    source_of,
    start_build,
    toc_docnames,
    toc_with,
)

SCREENSHOTS = ROOT / "_build" / "screenshots"
EXAMPLE_REPOSITORY = "https://github.com/example-org/rnnbook-example"
DESKTOP = {"width": 1280, "height": 860}
PHONE = {"width": 390, "height": 844}

# What one visit collects. MathJax is awaited first, then lazy images are forced to load.
COLLECT_JS = r"""
async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) { await MathJax.startup.promise; }
  const imgs = [...document.images];
  imgs.forEach(i => { i.loading = 'eager'; });
  await Promise.all(imgs.map(i => i.decode().catch(() => null)));
  const article = document.querySelector('article.bd-article') || document.body;
  // Text nodes outside code and outside typeset math: raw TeX would show here.
  const walker = document.createTreeWalker(article, NodeFilter.SHOW_TEXT, {
    acceptNode(n) {
      return n.parentElement.closest('pre, code, script, style, mjx-container, .highlight, textarea')
        ? NodeFilter.FILTER_REJECT : NodeFilter.FILTER_ACCEPT;
    }});
  const prose = [];
  for (let n = walker.nextNode(); n; n = walker.nextNode()) prose.push(n.nodeValue);
  const q = s => [...document.querySelectorAll(s)];
  return {
    title: document.title,
    prose: prose.join(' '),
    paragraphs: q('article.bd-article p').map(p => p.innerText).join('\n'),
    math: q('article .math').length,
    math_untypeset: q('article .math').filter(m => !m.querySelector('mjx-container')).length,
    mjx: q('mjx-container').length,
    mjx_errors: q('mjx-merror').map(e => e.getAttribute('data-mjx-error') || e.textContent),
    equations: q('article div.math[id^="equation-"]').map(d => ({
      id: d.id, number: (d.querySelector('.eqno') || {}).textContent || ''})),
    images: imgs.map(i => ({src: i.currentSrc || i.src, alt: i.getAttribute('alt'),
                            width: i.naturalWidth})),
    figures: q('article figure').map(f => ({
      caption: (f.querySelector('figcaption') || {}).innerText || '',
      images: f.querySelectorAll('img').length})),
    links: q('a[href]').map(a => a.href),
    prev: (document.querySelector('a.left-prev') || {}).href || null,
    next: (document.querySelector('a.right-next') || {}).href || null,
    downloads: q('a[href$=".ipynb"]').map(a => a.href),
    code_cells: q('article div.cell').length,
    cell_outputs: q('article div.cell_output').length,
    exercises: q('article div.exercise').length,
    solutions: q('article div.solution').length,
    launch_links: q('.dropdown-launch-buttons a, a[href*="mybinder.org"], a[href*="colab.research"]')
      .map(a => a.href),
    repo_links: q('a[href^="https://github.com"], a[href^="https://gitlab.com"]').map(a => a.href),
  };
}
"""


@dataclass
class Visit:
    docname: str
    url: str
    data: dict
    failed: list[str] = field(default_factory=list)
    external: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)


def html_path(docname: str) -> str:
    return f"{docname}.html"


def first_chapter() -> str:
    return next(d for d in toc_docnames() if source_of(d).suffix == ".ipynb")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Both builds, run side by side: {'plain': html folder, 'launch': html folder}.

    'plain' is the whole book as the repository configures it. 'launch' sets a repository URL in
    a copy of `_config.yml` and builds only the front page and the first chapter (enough to see
    the buttons, and quick).
    """
    chromium_path()  # fail first, and clearly, when there is no browser
    base = tmp_path_factory.mktemp("book")
    config = config_with({"repository": {"url": EXAMPLE_REPOSITORY, "branch": "main"}}, base / "config")
    toc = toc_with([first_chapter()], base / "config")
    started = {
        "plain": start_build(base / "plain"),
        "launch": start_build(base / "launch", config=config, toc=toc, strict=False),
    }
    return {name: finish_build(process, base / name) for name, process in started.items()}


@pytest.fixture(scope="module")
def site(built):
    with serve(built["plain"]) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium_path(), headless=True, args=CHROMIUM_FLAGS
        )
        yield browser
        browser.close()


def visit(context, base: str, docname: str, collect: bool = True) -> tuple[Visit, object]:
    page = context.new_page()
    record = Visit(docname, base + html_path(docname), {})
    page.on("requestfailed", lambda r: record.failed.append(f"{r.url} ({r.failure})"))
    page.on("response", lambda r: r.status >= 400 and record.failed.append(f"{r.url} (HTTP {r.status})"))
    page.on(
        "request",
        lambda r: (
            not r.url.startswith(base)
            and not r.url.startswith(("data:", "blob:"))
            and record.external.append(r.url)
        ),
    )
    page.on("pageerror", lambda e: record.page_errors.append(str(e)))
    page.goto(record.url, wait_until="load")
    if collect:
        record.data = page.evaluate(COLLECT_JS)
    return record, page


# At phone width: does the page scroll sideways, and which elements stick out?
OVERFLOW_JS = r"""
() => ({
  scroll_width: document.documentElement.scrollWidth, width: window.innerWidth,
  culprits: [...document.querySelectorAll('article *')]
    .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
    .filter(e => !e.parentElement.closest('pre, .highlight, .cell_output, table, mjx-container'))
    .slice(0, 3).map(e => e.tagName + '.' + e.className),
})
"""


@pytest.fixture(scope="module")
def pages(site, browser) -> list[Visit]:
    """One visit of every page of the table of contents, at desktop width."""
    context = browser.new_context(viewport=DESKTOP)
    visits = []
    for docname in toc_docnames():
        record, page = visit(context, site, docname)
        page.set_viewport_size(PHONE)
        page.wait_for_timeout(100)  # let the layout settle
        record.data["phone"] = page.evaluate(OVERFLOW_JS)
        page.close()
        visits.append(record)
    context.close()
    return visits


def test_toc_pages_exist():
    docnames = toc_docnames()
    assert len(docnames) >= 5 and docnames[0] == "book/index"
    for docname in docnames:
        source_of(docname)  # raises if a file named in _toc.yml is missing


@pytest.mark.browser
def test_every_page_loads_without_failed_requests(pages):
    problems = {
        v.docname: v.failed
        + [f"external request {u}" for u in v.external]
        + [f"uncaught error {e}" for e in v.page_errors]
        for v in pages
        if v.failed or v.external or v.page_errors
    }
    assert not problems, problems
    for v in pages:
        assert v.data["title"], f"{v.docname}: empty <title>"


@pytest.mark.browser
def test_math_is_typeset(pages):
    with_math = [v for v in pages if v.data["math"]]
    assert any(v.docname.startswith("book/01") for v in with_math), "Chapter 1 shows no math"
    for v in with_math:
        d = v.data
        assert d["math_untypeset"] == 0, f"{v.docname}: {d['math_untypeset']} formulas not typeset"
        assert d["mjx"] >= d["math"], f"{v.docname}: {d['mjx']} typeset of {d['math']} formulas"
        assert not d["mjx_errors"], f"{v.docname}: MathJax errors {d['mjx_errors']}"
        raw = re.findall(r"\\\(|\\\[|\$\$|\\(?:mathbf|frac|begin|sum|tanh)\b", d["prose"])
        assert not raw, f"{v.docname}: raw TeX left in the page: {raw[:5]}"


@pytest.mark.browser
def test_equations_are_numbered_and_cross_references_resolve(pages):
    chapters = [v for v in pages if source_of(v.docname).suffix == ".ipynb" and v.data["equations"]]
    assert chapters, "no chapter has a labelled equation"
    for v in chapters:
        numbers = [e["number"] for e in v.data["equations"]]
        # the number, then the theme's "#" permalink
        assert all(re.fullmatch(r"\(\d+(\.\d+)*\)#?", n.strip()) for n in numbers), (v.docname, numbers)
        assert len(set(numbers)) == len(numbers), f"{v.docname}: repeated numbers {numbers}"
        refs = [link for link in v.data["links"] if "#equation-" in link]
        assert refs, f"{v.docname}: no {{eq}} reference to any equation"
    # each #equation-... link is checked to resolve by the internal-link test


@pytest.mark.browser
def test_images_load_and_have_alt_text(pages):
    seen = 0
    for v in pages:
        for image in v.data["images"]:
            seen += 1
            assert image["width"] > 0, f"{v.docname}: image did not load: {image['src']}"
            assert (image["alt"] or "").strip(), f"{v.docname}: image without alt text: {image['src']}"
        for figure in v.data["figures"]:
            assert figure["caption"].strip(), f"{v.docname}: figure without a caption"
    assert seen, "no image in the whole book"


def _target(base: str, built_html: Path, link: str) -> tuple[Path, str]:
    url, fragment = urldefrag(link)
    path = unquote(urlsplit(url).path).lstrip("/")
    target = built_html / path
    if target.is_dir():
        target = target / "index.html"
    return target, fragment


@pytest.mark.browser
def test_every_internal_link_resolves(pages, site, built):
    checked, broken = 0, []
    for v in pages:
        for link in set(v.data["links"]):
            if not link.startswith(site):
                continue
            target, fragment = _target(site, built["plain"], link)
            checked += 1
            if not target.is_file():
                broken.append(f"{v.docname}: {link} (no such file)")
            elif fragment and target.suffix == ".html" and fragment not in ids_in(target):
                broken.append(f"{v.docname}: {link} (no element with id {fragment!r})")
    assert checked > 20
    assert not broken, "\n".join(sorted(broken))


@pytest.mark.browser
def test_chapter_pages_have_outputs_download_and_navigation(pages, site):
    order = [v.url for v in pages]
    for i, v in enumerate(pages):
        if i > 0:
            assert v.data["prev"] == order[i - 1], f"{v.docname}: 'previous' is {v.data['prev']}"
        if i + 1 < len(pages):
            assert v.data["next"] == order[i + 1], f"{v.docname}: 'next' is {v.data['next']}"
        if source_of(v.docname).suffix == ".ipynb":
            notebook = f"_sources/{v.docname}.ipynb"
            assert any(d.endswith(notebook) for d in v.data["downloads"]), (
                f"{v.docname}: no download link for the notebook"
            )
            assert v.data["code_cells"] > 0, f"{v.docname}: no code cell"
            assert v.data["cell_outputs"] > 0, f"{v.docname}: no cell output"


@pytest.mark.browser
def test_library_index_lists_every_module(pages):
    import importlib
    import pkgutil

    import rnnbook

    api = next((v for v in pages if v.docname.endswith("/api")), None)
    assert api is not None, "the library index (book/api) is not in _toc.yml"
    text = api.data["prose"] + " " + " ".join(api.data["links"])
    for info in pkgutil.iter_modules(rnnbook.__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"rnnbook.{info.name}")
        assert f"rnnbook.{info.name}" in text, f"module rnnbook.{info.name} missing from the index"
        for name in getattr(module, "__all__", []):
            assert f"#rnnbook.{info.name}.{name}" in text, f"rnnbook.{info.name}.{name} not documented"
    assert "Defined in" in api.data["prose"], "no entry says which chapter defines it"


def _rare_word(pages: list[Visit]) -> tuple[Visit, str]:
    """A word of a chapter's prose that no other page uses (so the search result is unambiguous)."""
    words = {v.docname: Counter(re.findall(r"\b[a-z]{7,}\b", v.data["paragraphs"].lower())) for v in pages}
    chapter = next(v for v in pages if source_of(v.docname).suffix == ".ipynb")
    others = set().union(*(set(w) for name, w in words.items() if name != chapter.docname))
    candidates = [(count, word) for word, count in words[chapter.docname].items() if word not in others]
    assert candidates, f"{chapter.docname}: no word of its own to search for"
    return chapter, max(candidates)[1]


@pytest.mark.browser
def test_search_finds_a_chapter_term(pages, site, browser):
    chapter, word = _rare_word(pages)
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    page.goto(f"{site}search.html?q={word}")
    page.wait_for_selector("#search-results .search-summary", timeout=20_000)
    hits = page.eval_on_selector_all("#search-results ul.search li a", "as => as.map(a => a.href)")
    context.close()
    assert any(h.split("#")[0].split("?")[0] == chapter.url for h in hits), (word, hits)


@pytest.mark.browser
def test_exercise_solution_opens_and_links_back(pages, site, browser):
    with_solutions = [v for v in pages if v.data["solutions"]]
    assert any(v.docname.startswith("book/01") for v in with_solutions), "Chapter 1 has no solution"
    context = browser.new_context(viewport=DESKTOP)
    for v in with_solutions:
        page = context.new_page()
        page.goto(v.url)
        solutions = page.locator("article div.solution.dropdown")
        assert solutions.count() == v.data["solutions"], f"{v.docname}: a solution is not folded"
        first = solutions.first
        body = first.locator(":scope > :not(.admonition-title)").first
        assert not body.is_visible(), f"{v.docname}: the solution is open before a click"
        # exercise -> solution link, then the solution's title links back to its exercise
        exercise_id = page.eval_on_selector("article div.exercise", "e => e.id")
        solution_id = first.get_attribute("id")
        assert page.locator(f'article div.exercise a[href$="#{solution_id}"]').count() >= 1, (
            f"{v.docname}: exercise {exercise_id} does not link to its solution"
        )
        assert first.locator(f'a[href$="#{exercise_id}"]').count() >= 1, (
            f"{v.docname}: solution {solution_id} does not link back to its exercise"
        )
        first.locator("button.toggle-button").first.click()
        body.wait_for(state="visible", timeout=5_000)
        assert body.inner_text().strip(), f"{v.docname}: the opened solution is empty"
        if v.docname.startswith("book/01"):  # for a person to look at: an exercise, solution open
            _scroll_to(page, f"#{exercise_id}")
            page.wait_for_timeout(600)  # the solution fades in
            _screenshot(page, "chapter-desktop-exercise-solution-open")
        page.close()
    context.close()


@pytest.mark.browser
def test_readable_at_phone_width(pages):
    """No page scrolls sideways on a phone: wide code, tables and math scroll in their own box."""
    too_wide = {
        v.docname: v.data["phone"]
        for v in pages
        if v.data["phone"]["scroll_width"] > v.data["phone"]["width"] + 1
    }
    assert not too_wide, too_wide


def _contrast(a: list[float], b: list[float]) -> float:
    def luminance(rgb):
        channels = [c / 255 for c in rgb[:3]]
        lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]

    hi, lo = sorted([luminance(a), luminance(b)], reverse=True)
    return (hi + 0.05) / (lo + 0.05)


CONTRAST_JS = r"""
(selector) => [...document.querySelectorAll(selector)].filter(e => e.innerText.trim()).slice(0, 40)
  .map(e => {
    const rgb = s => (s.match(/[\d.]+/g) || []).map(Number);
    let bg = null;
    for (let n = e; n; n = n.parentElement) {
      const c = rgb(getComputedStyle(n).backgroundColor);
      if (c.length >= 3 && (c.length < 4 || c[3] > 0.5)) { bg = c; break; }
    }
    return {what: e.tagName + '.' + e.className, color: rgb(getComputedStyle(e).color),
            background: bg || [255, 255, 255]};
  })
"""


@pytest.mark.browser
def test_dark_mode_is_readable(pages, site, browser):
    """The theme's dark mode: dark background, and text (prose and cell outputs) readable on it."""
    context = browser.new_context(viewport=DESKTOP, color_scheme="dark")
    chapter = next(v for v in pages if source_of(v.docname).suffix == ".ipynb")
    for v in (pages[0], chapter):
        page = context.new_page()
        page.goto(v.url)
        assert page.evaluate("document.documentElement.dataset.theme") == "dark"
        for selector in (
            "article p",
            "article li",
            "article figcaption",
            "article div.cell_output pre",
            "article div.highlight pre",
            "article table td",
            "nav.bd-links a",
        ):
            for item in page.evaluate(CONTRAST_JS, selector):
                ratio = _contrast(item["color"], item["background"])
                assert ratio >= 4.5, f"{v.docname} ({selector}): contrast {ratio:.1f} for {item}"
        page.close()
    context.close()


def _scroll_to(page, selector: str) -> None:
    """Scroll down (never up: scrolling up shows the theme's "Back to top" button) to an element."""
    page.evaluate(
        """(selector) => {
        const top = document.querySelector(selector).getBoundingClientRect().top + window.scrollY;
        window.scrollTo(0, Math.max(0, top - 80)); }""",
        selector,
    )
    page.wait_for_timeout(200)


def _screenshot(page, name: str, full_page: bool = False) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


@pytest.mark.browser
def test_screenshots_for_a_person(pages, site, browser):
    chapter = next(v for v in pages if source_of(v.docname).suffix == ".ipynb")
    shots = []
    settings = {
        "desktop": dict(viewport=DESKTOP),
        "phone": dict(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True),
        "dark": dict(viewport=DESKTOP, color_scheme="dark"),
        "phone-dark": dict(
            viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True, color_scheme="dark"
        ),
    }
    for mode, options in settings.items():
        context = browser.new_context(**options)
        for label, v in (("front", pages[0]), ("chapter", chapter)):
            if mode.endswith("dark") and label == "front" and mode != "dark":
                continue
            page = context.new_page()
            page.goto(v.url)
            page.evaluate("async () => { if (window.MathJax) await MathJax.startup.promise; }")
            shots.append(_screenshot(page, f"{label}-{mode}"))
            if label == "chapter":  # the first displayed equation, then the first figure, in view
                for what, selector in (("equation", "article div.math"), ("figure", "article figure")):
                    if page.locator(selector).count():
                        _scroll_to(page, selector)
                        shots.append(_screenshot(page, f"{label}-{mode}-{what}"))
            page.close()
        context.close()
    for path in shots:
        assert path.stat().st_size > 10_000, f"{path} looks empty"


@pytest.mark.browser
def test_no_launch_or_repository_button_without_a_url(pages):
    for v in pages:
        assert not v.data["launch_links"], f"{v.docname}: launch buttons with no repository URL"
        assert not v.data["repo_links"], f"{v.docname}: repository links with no repository URL"


@pytest.mark.browser
def test_launch_buttons_appear_with_a_repository_url(built, browser):
    docname = first_chapter()
    path = f"{docname}.ipynb"
    with serve(built["launch"]) as base:
        context = browser.new_context(viewport=DESKTOP)
        record, page = visit(context, base, docname)
        context.close()
    assert not record.failed and not record.external, record.failed + record.external
    links = set(record.data["launch_links"])
    org_repo = EXAMPLE_REPOSITORY.removeprefix("https://github.com/")
    assert f"https://mybinder.org/v2/gh/{org_repo}/main?urlpath=tree/{path}" in links, links
    assert f"https://colab.research.google.com/github/{org_repo}/blob/main/{path}" in links, links
    assert EXAMPLE_REPOSITORY in record.data["repo_links"], record.data["repo_links"]
    # the button icons are bundled with the theme and load offline
    icons = [i for i in record.data["images"] if "logo_" in i["src"]]
    assert icons and all(i["width"] > 0 for i in icons), icons


def test_a_missing_browser_is_a_clear_error(monkeypatch, tmp_path):
    """No Chromium: an error that says how to install it (never a silent skip)."""
    import browser_site

    monkeypatch.setattr(browser_site, "CHROMIUM_CANDIDATES", (str(tmp_path / "no-chromium"),))
    monkeypatch.setattr(browser_site.shutil, "which", lambda name: None)
    monkeypatch.delenv("CHROMIUM", raising=False)
    with pytest.raises(RuntimeError, match="make browser"):
        browser_site.chromium_path()


def test_github_workflow_tests_then_builds_and_deploys_the_book():
    """The workflow runs the README's test command on every push and pull request, and publishes
    exactly what `make book` builds, only after the tests pass (not a browser test)."""
    workflow_path = ROOT / ".github" / "workflows" / "ci.yml"
    workflow = yaml.safe_load(workflow_path.read_text(encoding="utf-8"))
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as True
    assert {"push", "pull_request", "workflow_dispatch"} <= set(triggers), triggers
    assert workflow["permissions"] == {"contents": "read", "pages": "write", "id-token": "write"}
    test, build, deploy = workflow["jobs"]["test"], workflow["jobs"]["build"], workflow["jobs"]["deploy"]
    assert re.search(r"^\s*bash \.ci/run\s*$", "\n".join(s.get("run", "") for s in test["steps"]), re.M)
    assert build["needs"] == "test" and "refs/heads/main" in build["if"]
    steps = build["steps"]
    uses = [s.get("uses", "") for s in steps]
    runs = "\n".join(s.get("run", "") for s in steps)
    assert any(u.startswith("actions/checkout@") for u in uses)
    python = next(s for s in steps if s.get("uses", "").startswith("actions/setup-python@"))
    assert str(python["with"]["python-version"]) == "3.11"
    assert re.search(r"^\s*make book\s*$", runs, re.M), runs
    upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-pages-artifact@"))
    assert upload["with"]["path"] == "_build/html"
    assert deploy["needs"] == "build"
    assert deploy["environment"]["name"] == "github-pages"
    assert any(s.get("uses", "").startswith("actions/deploy-pages@") for s in deploy["steps"])
    # `make book` really writes the folder the workflow uploads
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    recipe = makefile.split("\nbook:", 1)[1].split("\n\n", 1)[0]
    assert "jupyter-book build . -W --keep-going" in recipe and "--path-output" not in recipe
    assert "_build/html" in recipe
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert ".github/workflows/ci.yml" in readme.split("## Publishing", 1)[1]
