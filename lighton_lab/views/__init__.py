"""What a person looks at: notebook widgets, plots, the HTML report and the error analysis."""
