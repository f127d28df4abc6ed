from django.apps import AppConfig


class DatasetsConfig(AppConfig):
    name = "portal.datasets"
    label = "datasets"
    verbose_name = "Datasets, cases and ground truth"

    def ready(self) -> None:
        from portal.datasets.services import dataset_import_steps_register

        dataset_import_steps_register()
