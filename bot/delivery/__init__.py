"""From stored papers to posted digests: the pipeline, digest building and rendering to the
platform-neutral digest, schedules, and the scheduler's jobs (behind the `Timer` port)."""
