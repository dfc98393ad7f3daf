#!/usr/bin/env bash
# The queue under its earlier name (the README's commands use it): see gpu_queue.sh.
exec bash "$(dirname "$0")/gpu_queue.sh" "$@"
