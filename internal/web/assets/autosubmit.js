// Submits a form marked data-autosubmit once the page has loaded: the
// answer of an identity provider, posted again from this site. Without
// JavaScript the form's button does the same.
"use strict";
document.querySelectorAll("form[data-autosubmit]").forEach(function (form) {
  form.submit();
});
