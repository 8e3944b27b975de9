"""The catalogues of the languages besides English: one module per language, keyed by the English template."""
