// The editor (Monaco) writes its theme and decorations into <style> elements
// it creates. The page's Content-Security-Policy admits only style elements
// that carry the nonce of the response, which the page names in a meta tag:
// this gives it to every style element the scripts create. Imported first.
const nonce = document.querySelector('meta[name="csp-nonce"]')?.content;
if (nonce) {
  const createElement = Document.prototype.createElement;
  Document.prototype.createElement = function (tagName, options) {
    const el = createElement.call(this, tagName, options);
    if (String(tagName).toLowerCase() === 'style') {
      el.setAttribute('nonce', nonce);
    }
    return el;
  };
}
