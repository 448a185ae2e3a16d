"""The real-time feed (`GET /api/v1/feeds/stream`): filters, grants, replay and the fan-out.

hub.events keeps the log; hub.feeds.fanout follows it (one reader per process) and hands each
event to the clients whose filters and grants take it; hub.feeds.stream runs one client's
stream (backlog, seam, live); hub.api.feeds parses the request.
"""
