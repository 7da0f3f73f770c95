"""Other libraries' APIs on cnnkit: :mod:`cnnkit.compat.face_recognition` (ageitgey's face_recognition)."""
