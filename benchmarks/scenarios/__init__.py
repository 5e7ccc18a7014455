"""One module per scenario; each fills a CaseResult from a running Stack."""
