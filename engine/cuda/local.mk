# engine/cuda/local.mk -- rules for engine/cuda/ (sources are added to engine_libengine_a_SOURCES).
