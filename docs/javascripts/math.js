// Renders the formulas that pymdownx.arithmatex marks (`$...$` and `$$...$$` in pages and
// docstrings; its generic mode wraps them as \(...\) and \[...\] in elements of class
// "arithmatex") with the KaTeX that the site itself serves (javascripts/katex/), so formulas
// render without a network. A formula KaTeX cannot parse stays as its TeX source, in red.
function renderFormulas(root) {
  for (const element of root.querySelectorAll(".arithmatex")) {
    const source = element.textContent.trim();
    const display = source.startsWith("\\[");
    const tex = source.replace(/^\\[[(]/, "").replace(/\\[\])]$/, "");
    katex.render(tex, element, { displayMode: display, throwOnError: false });
  }
}

// Material's instant navigation swaps pages without reloading: document$ emits for each page.
if (typeof document$ !== "undefined") {
  document$.subscribe(() => renderFormulas(document.body));
} else {
  document.addEventListener("DOMContentLoaded", () => renderFormulas(document.body));
}
