"""Use cases. Each public function is one transaction; helpers only add and flush."""
