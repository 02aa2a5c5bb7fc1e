"""People playing against agents: ``human`` (one decision at a time, a match record at the
end) and ``terminal`` (`arena play`)."""
