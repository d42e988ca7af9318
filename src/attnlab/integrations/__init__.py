"""Bridges to other ecosystems; each lives in its own subpackage and imports its library lazily.

- :mod:`attnlab.integrations.transformers`: Hugging Face ``transformers`` models run every attention
  layer through :func:`attnlab.attention.attend` (``attn_implementation="attnlab"``); the optional
  extra ``attnlab[hf]`` installs the library.
"""
