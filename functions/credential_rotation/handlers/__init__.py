"""One Lambda handler per state machine task: parse the event, call one domain function, return a dict."""
