"""Reading the manager's figures, one module per question, from the read models the fold keeps."""
