import sys

from avb_keras.cli import main

sys.exit(main())
