# engine/synth/local.mk -- rules for engine/synth/ (sources are added to engine_libengine_a_SOURCES).
