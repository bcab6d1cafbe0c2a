"""Read head CT images and build data sets.

- :func:`read_image` and :func:`read_images` read PNG, JPEG, DICOM and
  NIfTI files (DICOM and NIfTI in Hounsfield units);
- :func:`load_head_ct` loads the Kaggle "Head CT - hemorrhage" images from a
  local folder, :func:`load_image_folder` any folder with one subfolder per
  class;
- :func:`make_head_ct` generates a synthetic head CT phantom with and
  without hemorrhages;
- :func:`find_near_duplicates` groups copies of the same image, for
  group-aware cross-validation.
"""

from ._duplicates import find_near_duplicates
from ._folder import load_image_folder
from ._head_ct import load_head_ct
from ._phantom import HEMORRHAGE_TYPES, make_head_ct
from ._readers import ReadError, read_image, read_images

__all__ = [
    "HEMORRHAGE_TYPES",
    "ReadError",
    "find_near_duplicates",
    "load_head_ct",
    "load_image_folder",
    "make_head_ct",
    "read_image",
    "read_images",
]
