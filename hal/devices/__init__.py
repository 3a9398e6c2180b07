"""Device drivers and the small interfaces the hal loop drives them through."""
