# FindTurboJPEG: libjpeg-turbo's TurboJPEG API (Debian: libturbojpeg0-dev). Found with find_path /
# find_library rather than pkg-config, so that a tree unpacked under CMAKE_PREFIX_PATH (the GPU
# check's carried packages) is found on a machine without pkg-config. Accepts -DTurboJPEG_ROOT=<prefix>.
# Defines TurboJPEG::TurboJPEG.
find_path(TurboJPEG_INCLUDE_DIR turbojpeg.h HINTS ${TurboJPEG_ROOT} $ENV{TurboJPEG_ROOT} PATH_SUFFIXES include)
find_library(TurboJPEG_LIBRARY NAMES turbojpeg HINTS ${TurboJPEG_ROOT} $ENV{TurboJPEG_ROOT}
  PATH_SUFFIXES lib lib64 lib/x86_64-linux-gnu lib/aarch64-linux-gnu)

include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(TurboJPEG REQUIRED_VARS TurboJPEG_LIBRARY TurboJPEG_INCLUDE_DIR)
if(TurboJPEG_FOUND AND NOT TARGET TurboJPEG::TurboJPEG)
  add_library(TurboJPEG::TurboJPEG UNKNOWN IMPORTED)
  set_target_properties(TurboJPEG::TurboJPEG PROPERTIES
    IMPORTED_LOCATION "${TurboJPEG_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${TurboJPEG_INCLUDE_DIR}")
endif()
mark_as_advanced(TurboJPEG_INCLUDE_DIR TurboJPEG_LIBRARY)
