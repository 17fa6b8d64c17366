"""The answers: one module per question, each asking the store seam and analysis/ and returning records."""
