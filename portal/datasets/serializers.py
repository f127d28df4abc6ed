"""How the APIs describe an image to a viewer page (datasets.views.ViewerImage): the annotation page's
images and the reading page's backgrounds are shown as the case viewer shows them."""

from rest_framework import serializers


class ParameterMapSerializer(serializers.Serializer):
    label = serializers.CharField()
    quantity = serializers.CharField()
    unit = serializers.CharField()
    low = serializers.FloatField(help_text="The display range's low end: values at or below it are clear.")
    high = serializers.FloatField()
    colormap = serializers.CharField()


class ViewerImageSerializer(serializers.Serializer):
    url = serializers.CharField()
    name = serializers.CharField(help_text="A neutral file name with its extension, for the viewer.")
    label = serializers.CharField(
        help_text="What the image is, as a reader names it, e.g. 'Tmax (in NCCT space)'."
    )
    colormap = serializers.CharField()
    is_ct = serializers.BooleanField(help_text="Whether the CT window presets apply.")
    parameter_map = ParameterMapSerializer(
        allow_null=True,
        help_text="A perfusion map's quantity, unit and display range (null for other images).",
    )
