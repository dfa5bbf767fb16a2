"""Live sources: the TikTok web trending feed, the Research API and the Creative Center trend lists.

Each source splits into ``request`` (I/O: one HTTP request, the reply as bytes) and ``parse`` (pure: the reply's
records, or a :class:`~tiktrend.collect.sources.base.FetchError` that names what went wrong), so that the
collector can keep every reply in the raw zone before anything parses it, and retry what can be retried.
"""
