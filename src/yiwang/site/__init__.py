"""The web shell: the layout every page inherits, the home page, and the visitor's display
preferences (language, elder-friendly mode 适老化)."""
