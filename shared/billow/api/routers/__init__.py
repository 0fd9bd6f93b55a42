"""One router per resource; each route parses, calls one service method, shapes the answer."""
