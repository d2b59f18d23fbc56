"""Pure analytics over sessions: scoring, change, status, flags, trajectories, indices.

Functions over pandas frames or SQL handed a :class:`~fitdata.data.store.Reader`; no widgets,
no files. Every threshold comes from :mod:`fitdata.config`.
"""
