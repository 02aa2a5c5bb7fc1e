"""What people read: terminal tables (``tables``), the Bradley-Terry leaderboard from the
workspace's match logs (``leaderboard``) and matplotlib pictures (``plots``)."""
