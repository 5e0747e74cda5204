"""Electronic certificates (电子证照): signed documents issued on approval, verified publicly and offline."""
