"""How modules loaded from a user's file are named, so that messages can name the file.

:mod:`gambitts.sims.user_code` loads a builder's (or a world's) file by path as a module whose
name starts with :data:`FILE_MODULE_PREFIX`; :func:`gambitts.agents.custom.builder_reference`
then names its functions by file in error messages. This module is light on purpose: loading a
user's world must not import PyMC.
"""

#: Prefix of the names of modules loaded from a user's file.
FILE_MODULE_PREFIX = "gambitts_user_"
