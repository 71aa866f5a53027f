"""guide_models.py (the guide's models at test sizes) is imported by the tests beside it."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
