"""What every service shares: the record schema and the names the lake and its catalog depend on."""
