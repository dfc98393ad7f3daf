"""One module per `near` command: orchestration only, over near.factories, near.restore, near.eval,
near.viz and the learners. Nothing below this package imports it."""
