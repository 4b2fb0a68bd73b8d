/* Typeset the LaTeX in ipywidgets labels (description=r"$\beta$") with the book's MathJax 3.
 *
 * The ipywidgets HTML manager (widgets/embed.js) sets a label's text and then calls the MathJax 2
 * API, MathJax.Hub.Queue(["Typeset", MathJax.Hub, element]), which does not exist in MathJax 3
 * (the call throws). This file provides that call: it replaces each $...$, $$...$$ or \(...\) in
 * the element's text by MathJax 3's rendering of it. (Typesetting the element as a whole would not
 * work: MathJax 3 does not use $ as a delimiter, and myst-nb tells MathJax to skip notebook pages
 * except their math.) Deferred scripts, MathJax among them, have run by DOMContentLoaded; the
 * manager renders widgets on the later window "load" event. */
document.addEventListener("DOMContentLoaded", function () {
  var MJ = window.MathJax;
  if (!MJ || !MJ.version || MJ.Hub) return;  // no MathJax 3 on this page, or a MathJax 2

  var MATH = /\$\$([^$]+)\$\$|\$([^$]+)\$|\\\((.+?)\\\)/g;

  function typesetText(element) {
    var text = element.textContent || "";
    MATH.lastIndex = 0;
    if (!MATH.test(text)) return;
    MATH.lastIndex = 0;
    var parts = document.createDocumentFragment(), last = 0, m;
    while ((m = MATH.exec(text)) !== null) {
      if (m.index > last) parts.appendChild(document.createTextNode(text.slice(last, m.index)));
      try {
        parts.appendChild(MJ.tex2chtml(m[1] || m[2] || m[3], {display: m[1] !== undefined}));
      } catch (err) {
        parts.appendChild(document.createTextNode(m[0]));
      }
      last = MATH.lastIndex;
    }
    if (last < text.length) parts.appendChild(document.createTextNode(text.slice(last)));
    element.textContent = "";
    element.appendChild(parts);
    MJ.startup.document.clear();
    MJ.startup.document.updateDocument();  // adds the CSS of the new characters
  }

  MJ.Hub = {
    Queue: function (job) {
      var element = Array.isArray(job) ? job[2] : undefined;
      if (!element) return;
      var ready = MJ.startup && MJ.startup.promise ? MJ.startup.promise : Promise.resolve();
      ready.then(function () { typesetText(element); }).catch(function (err) {
        console.error("MathJax could not typeset a widget label:", err);
      });
    }
  };
});
