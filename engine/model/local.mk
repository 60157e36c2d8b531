# engine/model/local.mk -- rules for engine/model/ (sources are added to engine_libengine_a_SOURCES).
