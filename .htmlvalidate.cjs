// html-validate's configuration for `make test` (tests/test_markup.py).
// Every rule switched off or changed is listed with its reason.
module.exports = {
  extends: ["html-validate:recommended"],
  rules: {
    // Jinja renders attributes and text as written in the templates; the checks below are
    // about formatting style, not validity:
    "attribute-boolean-style": "off", // selected / selected="" come from WTForms as it writes them
    "attribute-empty-style": "off", // the same: value="" on empty inputs
    "no-trailing-whitespace": "off", // template indentation leaves trailing spaces
    "void-style": "off", // <input ...> and <input .../> both come from WTForms and templates
    "no-inline-style": "off", // tag colours are style="--chip: #hex" (the CSP allows style attributes only)
    "long-title": "off", // a ticket page's <title> is the ticket's title, however long
    "doctype-style": "off", // <!doctype html> in lower case is as valid as upper case
    // Repeated names are intended for checkboxes (status=open&status=new), radios, the
    // buttons of one form.
    "form-dup-name": ["error", { shared: ["radio", "checkbox", "submit", "button", "reset"] }],
  },
};
