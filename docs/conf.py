"""Sphinx configuration: the API reference from the numpydoc docstrings, and the notebooks.

Build with ``python -m sphinx -W -b html docs docs/_build/html`` (warnings are errors, so a
broken reference fails the build). ``docs/notebooks`` links to ``examples/notebooks``; the
notebooks are executed at reduced size (``GAMBITTS_FAST=1``) while building, and nothing is
written into the source tree.
"""

from __future__ import annotations

import os

import gambitts

project = "gambitts"
author = "the gambitts developers"
release = gambitts.__version__
extensions = ["sphinx.ext.autodoc", "sphinx.ext.napoleon", "myst_nb"]
exclude_patterns = ["_build", "**.ipynb_checkpoints"]
html_theme = "pydata_sphinx_theme"
html_title = "gambitts"

autodoc_typehints = "none"  # the numpydoc sections say the types
autodoc_member_order = "bysource"
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_rtype = False
nitpicky = True  # a reference to a name that does not exist is an error...
# ...except the types of numpydoc sections, which are prose ("dict of str to float, optional").
nitpick_ignore_regex = [("py:class", r".*")]

nb_execution_mode = "force"
nb_execution_timeout = 600
nb_execution_raise_on_error = True
nb_execution_in_temp = False
suppress_warnings = ["mystnb.unknown_mime_type", "myst.header"]

# The kernels that run the notebooks inherit the environment: small runs, and matplotlib's
# inline backend (not a file backend such as Agg), so that figures appear on the pages.
os.environ.setdefault("GAMBITTS_FAST", "1")
os.environ.pop("MPLBACKEND", None)


def _resolve_by_suffix(app, env, node, contnode):
    """Resolve a short reference (``InputError``) to the one documented object it names.

    Docstrings name objects as their module sees them; a name documented nowhere, or under two
    objects, stays unresolved and fails the build.
    """
    from sphinx.util.nodes import make_refnode

    if node.get("refdomain") != "py":
        return None
    target = node["reftarget"].lstrip("~.")
    domain = env.get_domain("py")
    found = [
        (name, entry)
        for name, entry in domain.objects.items()
        if name == target or name.endswith("." + target)
    ]
    if len(found) != 1:
        return None
    name, entry = found[0]
    return make_refnode(app.builder, node["refdoc"], entry.docname, entry.node_id, contnode, name)


def setup(app):
    """Register the short-reference resolver."""
    app.connect("missing-reference", _resolve_by_suffix)
