"""Write-behind storage of settings, entity state, history, audit log and alerts."""
