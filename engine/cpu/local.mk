# engine/cpu/local.mk -- rules for engine/cpu/ (sources are added to engine_libengine_a_SOURCES).
