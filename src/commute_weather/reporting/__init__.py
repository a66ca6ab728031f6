"""What a reviewer reads: the pull-request report with its verdicts, tables and plots."""
