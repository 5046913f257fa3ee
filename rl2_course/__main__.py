import sys

from rl2_course.cli import main

sys.exit(main())
