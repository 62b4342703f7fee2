#!/bin/sh
# make run: serve the module on 127.0.0.1:${1:-8080} until Ctrl-C.
exec /usr/bin/python3 "$(dirname "$0")/devserver.py" "${1:-8080}"
